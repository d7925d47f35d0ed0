"""The chapter's demonstrations that are more than a training run.

* ``harness graph``: an expression's computational graph (value and gradient on every
  node) or a configured model's layer graph, drawn with Graphviz
  (:mod:`~harness_lessons.expression`, :mod:`~harness_lessons.dot`,
  :mod:`~harness_lessons.model_graph`).
"""
