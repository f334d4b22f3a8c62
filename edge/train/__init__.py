"""Retraining on this coop's own photos: augment, embed, split, fit a head, measure, package.

``tensorchicken train`` (``edge/cli/train.py``) drives :func:`edge.train.retrain.retrain`;
``tensorchicken label`` (``edge/cli/label.py``) records the owner's labels of archived crops
(``edge/train/labels.py``) that ``train --from-archive`` learns from.
"""
