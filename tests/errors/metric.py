"""Bad inputs for the metric-learning losses (embeddings, pairs, triplets)."""

import numpy as np

import losskit

d = np.array([0.5, 1.5, 0.2])
same = np.array([True, False, True])
e = np.arange(12.0).reshape(4, 3)
y = np.array([0, 0, 1, 1])
a3 = np.zeros((2, 3))
t = np.array([1, -1])
c = np.ones((2, 3))


def _bad_distance_shape():
    return losskit.triplet_margin_with_distance(a3, a3, a3, distance_fn=lambda u, v: (u - v).sum())


def _distance_not_an_array():
    return losskit.triplet_margin_with_distance(a3, a3, a3, distance_fn=lambda u, v: [0.0, 0.0])


CASES = [
    # contrastive
    ("contrastive negative margin", lambda: losskit.contrastive(d, same, margin=-1.0), ValueError,
     r"contrastive: margin must be >= 0; received margin=-1.0"),
    ("contrastive negative distances", lambda: losskit.contrastive(-d, same), ValueError,
     r"contrastive: distances must be >= 0; received -0.5"),
    ("contrastive same of another shape", lambda: losskit.contrastive(d, same[:2]), ValueError,
     r"contrastive: same must have shape \(3,\) \(the shape of distances\); received shape \(2,\)"),
    ("contrastive same not 0/1", lambda: losskit.contrastive(d, np.array([0, 2, 1])), ValueError,
     r"contrastive: same must be in \{0, 1\}; received 2.0"),
    ("contrastive same with NaN", lambda: losskit.contrastive(d, np.array([0.0, np.nan, 1.0])), ValueError,
     r"contrastive: same must not contain NaN"),
    ("contrastive integer distances", lambda: losskit.contrastive(np.array([1, 2, 0]), same), TypeError,
     r"contrastive: distances must have a floating dtype; received dtype int64"),
    ("contrastive weight of another shape", lambda: losskit.contrastive(d, same, weight=np.ones(4)), ValueError,
     r"contrastive: weight must have shape \(3,\) \(the shape of distances\); received shape \(4,\)"),
    # contrastive_embeddings
    ("contrastive_embeddings unknown distance", lambda: losskit.contrastive_embeddings(e, y, distance="manhattan"),
     ValueError, (r"contrastive_embeddings: distance must be one of 'euclidean', 'squared_euclidean', 'cosine'; "
                 r"received distance='manhattan'")),
    ("contrastive_embeddings labels of the wrong length", lambda: losskit.contrastive_embeddings(e, y[:3]),
     ValueError, (r"contrastive_embeddings: labels must have shape \(4,\) \(one label per embedding\); "
                 r"received shape \(3,\)")),
    ("contrastive_embeddings float labels", lambda: losskit.contrastive_embeddings(e, y.astype(float)), TypeError,
     r"contrastive_embeddings: labels must have an integer dtype; received dtype float64"),
    ("contrastive_embeddings 1-D embeddings", lambda: losskit.contrastive_embeddings(e[0], y[:3]), ValueError,
     r"contrastive_embeddings: embeddings must have shape \(N, D\) \(one embedding per row\); received shape \(3,\)"),
    ("contrastive_embeddings mask per pair", lambda: losskit.contrastive_embeddings(e, y, mask=np.ones((4, 4), bool)),
     ValueError, (r"contrastive_embeddings: mask must have shape \(4,\) \(one value per embedding\); "
                 r"received shape \(4, 4\)")),
    ("contrastive_embeddings integer mask", lambda: losskit.contrastive_embeddings(e, y, mask=np.ones(4, int)),
     TypeError, r"contrastive_embeddings: mask must have a boolean dtype; received dtype int64"),
    # triplets
    ("triplet_margin positive of another size", lambda: losskit.triplet_margin(a3, np.zeros((2, 4)), a3), ValueError,
     r"triplet_margin: positive must have shape \(2, 3\) \(the shape of anchor\); received shape \(2, 4\)"),
    ("triplet_margin negative of another batch", lambda: losskit.triplet_margin(a3, a3, np.zeros((3, 3))), ValueError,
     r"triplet_margin: negative must have shape \(2, 3\) \(the shape of anchor\); received shape \(3, 3\)"),
    ("triplet_margin 3-D anchor", lambda: losskit.triplet_margin(*(np.zeros((2, 2, 3)),) * 3), ValueError,
     r"triplet_margin: anchor must have shape \(N, D\) or \(D,\); received shape \(2, 2, 3\)"),
    ("triplet_margin p = 0", lambda: losskit.triplet_margin(a3, a3, a3, p=0), ValueError,
     r"triplet_margin: p must be > 0; received p=0.0"),
    ("triplet_margin negative eps", lambda: losskit.triplet_margin(a3, a3, a3, eps=-1e-6), ValueError,
     r"triplet_margin: eps must be >= 0; received eps=-1e-06"),
    ("triplet_margin swap not a bool", lambda: losskit.triplet_margin(a3, a3, a3, swap=1), TypeError,
     r"triplet_margin: swap must be True or False; received 1"),
    ("triplet_margin margin a string", lambda: losskit.triplet_margin(a3, a3, a3, margin="1"), TypeError,
     r"triplet_margin: margin must be a real number; received str '1'"),
    ("triplet_margin_with_distance distance_fn not callable",
     lambda: losskit.triplet_margin_with_distance(a3, a3, a3, distance_fn="cosine"), TypeError,
     r"triplet_margin_with_distance: distance_fn must be a callable \(x1, x2\) -> distances or None; received str"),
    ("triplet_margin_with_distance distance_fn of the wrong shape", _bad_distance_shape, ValueError,
     (r"triplet_margin_with_distance: distance_fn must return shape \(2,\) \(one distance per triplet\); "
     r"received shape \(\)")),
    ("triplet_margin_with_distance distance_fn returns a list", _distance_not_an_array, TypeError,
     r"triplet_margin_with_distance: distance_fn must return an array; received list"),
    ("batch_hard_triplet labels of the wrong length", lambda: losskit.batch_hard_triplet(e, np.array([0, 1])),
     ValueError, r"batch_hard_triplet: labels must have shape \(4,\) \(one label per embedding\); received shape \(2,\)"),
    ("batch_hard_triplet float labels", lambda: losskit.batch_hard_triplet(e, np.array([0.0, 0.5, 1.0, 1.0])),
     TypeError, r"batch_hard_triplet: labels must have an integer dtype; received dtype float64"),
    ("batch_hard_triplet unknown distance", lambda: losskit.batch_hard_triplet(e, y, distance="l1"), ValueError,
     r"batch_hard_triplet: distance must be one of 'euclidean', 'squared_euclidean', 'cosine'; received distance='l1'"),
    ("batch_hard_triplet negative margin", lambda: losskit.batch_hard_triplet(e, y, margin=-0.1), ValueError,
     r"batch_hard_triplet: margin must be >= 0; received margin=-0.1"),
    ("batch_all_triplet integer embeddings", lambda: losskit.batch_all_triplet(np.ones((4, 3), int), y), TypeError,
     r"batch_all_triplet: embeddings must have a floating dtype; received dtype int64"),
    ("batch_all_triplet weight of another length", lambda: losskit.batch_all_triplet(e, y, weight=np.ones(3)),
     ValueError, r"batch_all_triplet: weight must have shape \(4,\) \(one value per embedding\); received shape \(3,\)"),
    # cosine embedding and ranking
    ("cosine_embedding target 0", lambda: losskit.cosine_embedding(a3, a3, np.array([1, 0])), ValueError,
     r"cosine_embedding: target must be in \{-1, 1\}; received 0.0"),
    ("cosine_embedding target of another shape", lambda: losskit.cosine_embedding(a3, a3, np.array([1, -1, 1])),
     ValueError, r"cosine_embedding: target must have shape \(2,\) \(one value per pair\); received shape \(3,\)"),
    ("cosine_embedding target with NaN", lambda: losskit.cosine_embedding(a3, a3, np.array([1.0, np.nan])),
     ValueError, r"cosine_embedding: target must not contain NaN"),
    ("cosine_embedding margin above 1", lambda: losskit.cosine_embedding(a3, a3, t, margin=2.0), ValueError,
     r"cosine_embedding: margin must be in \[-1, 1\]; received margin=2.0"),
    ("cosine_embedding input2 of another size", lambda: losskit.cosine_embedding(a3, np.zeros((2, 2)), t),
     ValueError, r"cosine_embedding: input2 must have shape \(2, 3\) \(the shape of input1\); received shape \(2, 2\)"),
    ("margin_ranking target of another shape", lambda: losskit.margin_ranking(d, d, t), ValueError,
     r"margin_ranking: target must have shape \(3,\) \(the shape of input1\); received shape \(2,\)"),
    ("margin_ranking target 0.5", lambda: losskit.margin_ranking(d, d, np.array([1.0, 0.5, -1.0])), ValueError,
     r"margin_ranking: target must be in \{-1, 1\}; received 0.5"),
    ("margin_ranking input2 of another shape", lambda: losskit.margin_ranking(d, d[:2], t), ValueError,
     r"margin_ranking: input2 must have shape \(3,\) \(the shape of input1\); received shape \(2,\)"),
    # softmax-based
    ("info_nce temperature 0", lambda: losskit.info_nce(e, e, temperature=0.0), ValueError,
     r"info_nce: temperature must be > 0; received temperature=0.0"),
    ("info_nce key of another size", lambda: losskit.info_nce(e, e[:, :2]), ValueError,
     r"info_nce: key must have shape \(4, 3\) \(the shape of query\); received shape \(4, 2\)"),
    ("info_nce negatives of another dimension", lambda: losskit.info_nce(e, e, negatives=np.zeros((5, 2))),
     ValueError, (r"info_nce: negatives must have shape \(4, K, 3\) \(per query\) or \(K, 3\) \(shared\); "
                 r"received shape \(5, 2\)")),
    ("info_nce negatives for another batch", lambda: losskit.info_nce(e, e, negatives=np.zeros((3, 5, 3))),
     ValueError, r"info_nce: negatives must have shape \(4, K, 3\).*received shape \(3, 5, 3\)"),
    ("info_nce 1-D query", lambda: losskit.info_nce(e[0], e[0]), ValueError,
     r"info_nce: query must have shape \(N, D\) \(one embedding per row\); received shape \(3,\)"),
    ("supervised_contrastive labels of the wrong length", lambda: losskit.supervised_contrastive(e, y[:1]),
     ValueError, r"supervised_contrastive: labels must have shape \(4,\) \(one label per embedding\)"),
    ("supervised_contrastive negative temperature", lambda: losskit.supervised_contrastive(e, y, temperature=-1),
     ValueError, r"supervised_contrastive: temperature must be > 0; received temperature=-1.0"),
    ("supervised_contrastive boolean labels", lambda: losskit.supervised_contrastive(e, y == 0), TypeError,
     r"supervised_contrastive: labels must have an integer dtype; received dtype bool"),
    # class centers
    ("center_loss label out of range", lambda: losskit.center_loss(e, np.array([0, 1, 2, 0]), c), ValueError,
     r"center_loss: labels must hold class indices in \[0, 2\); received 2"),
    ("center_loss negative label", lambda: losskit.center_loss(e, np.array([0, -1, 1, 0]), c), ValueError,
     r"center_loss: labels must hold class indices in \[0, 2\); received -1"),
    ("center_loss centers of another dimension", lambda: losskit.center_loss(e, y, np.ones((2, 4))), ValueError,
     (r"center_loss: centers must have shape \(C, 3\) \(one vector per class, the embeddings' dimension\); "
     r"received shape \(2, 4\)")),
    ("center_loss float labels", lambda: losskit.center_loss(e, y.astype(np.float32), c), TypeError,
     r"center_loss: labels must have an integer dtype; received dtype float32"),
    ("additive_margin_softmax unknown variant", lambda: losskit.additive_margin_softmax(e, y, c, variant="sphereface"),
     ValueError, r"additive_margin_softmax: variant must be one of 'arcface', 'cosface'; received variant='sphereface'"),
    ("additive_margin_softmax arcface margin above pi/2", lambda: losskit.additive_margin_softmax(e, y, c, margin=2.0),
     ValueError, r"additive_margin_softmax: margin must be in \[0, 1.5708\] when variant='arcface'; received margin=2.0"),
    ("additive_margin_softmax negative margin",
     lambda: losskit.additive_margin_softmax(e, y, c, variant="cosface", margin=-0.1), ValueError,
     r"additive_margin_softmax: margin must be >= 0; received margin=-0.1"),
    ("additive_margin_softmax scale 0", lambda: losskit.additive_margin_softmax(e, y, c, scale=0), ValueError,
     r"additive_margin_softmax: scale must be > 0; received scale=0.0"),
    ("additive_margin_softmax label out of range", lambda: losskit.additive_margin_softmax(e, np.array([0, 5, 1, 1]), c),
     ValueError, r"additive_margin_softmax: labels must hold class indices in \[0, 2\); received 5"),
    ("additive_margin_softmax easy_margin not a bool",
     lambda: losskit.additive_margin_softmax(e, y, c, easy_margin="yes"), TypeError,
     r"additive_margin_softmax: easy_margin must be True or False; received 'yes'"),
]
