"""Learning this coop's own cameras (issue 20).

- :mod:`edge.learn.light`: day or night (IR) for a crop;
- :mod:`edge.learn.scenes`: the bounded, per-camera store of empty-scene crops, by hour of day;
- :mod:`edge.learn.places`: where and how large motion crops are on each camera;
- :mod:`edge.learn.collector`: samples the empty scene off the frame loop's critical path;
- :mod:`edge.learn.quiet`: uncontested "nothing" motion joins the empty scenes after a delay;
- :mod:`edge.learn.examples`: one camera's crops (empty scenes, owner labels), fit and held out;
- :mod:`edge.learn.refit`: a head re-fitted from the running one on those crops;
- :mod:`edge.learn.judge`: whether the re-fitted head earns its promotion;
- :mod:`edge.learn.record`: what the last re-fit did, for ``doctor`` and the metrics;
- :mod:`edge.learn.schedule`: the nightly re-fit, in a low-priority child process.
"""
