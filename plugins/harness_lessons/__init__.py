"""The chapter's demonstrations that are more than a training run (the ``lessons`` plugin).

* ``harness graph``: an expression's computational graph, value and gradient on every
  node (:mod:`~harness_lessons.expression`, :mod:`~harness_lessons.dot`), or a configured
  model's layer graph (:mod:`~harness_lessons.model_graph`), drawn with Graphviz;
* the ``lr_range`` schedule and Smith's range test run on it
  (:mod:`~harness_lessons.lr_range`, ``+experiment=lr_range``);
* training loss against loss evaluations, for comparing gradient-free and gradient
  methods on one budget (:mod:`~harness_lessons.evaluations`,
  ``+experiment=random_vs_gradient``);
* the scalar engine's graph of a trained model's loss, attached to its run
  (``+experiment=scalar_graph``).

The run hooks are in :mod:`~harness_lessons.runs`; ``docs/chapter.md`` uses them all.
"""
