"""The coop's web page: live view, events with pictures and labels, models, health.

Served by the appliance itself on a thread of its own (:mod:`edge.web.server`); every asset it
needs ships in this package, so it works on a Pi with no internet. Importing this package costs
nothing: the server and its pages are imported only when the page is switched on.
"""
