"""The operations of the network, each with its definition and its local derivatives.

:mod:`symgrad.ops.base` says what an op is; :mod:`symgrad.ops.affine`,
:mod:`symgrad.ops.activation` and :mod:`symgrad.ops.output_loss` are the ops of every network, and
:mod:`symgrad.ops.layers` the layer kinds an option adds.
"""
