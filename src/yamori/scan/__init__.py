"""The scan pipeline: stream layers once, analyse each with the catalogers, cache, replay, finalise."""
