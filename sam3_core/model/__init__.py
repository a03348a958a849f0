"""SAM3 in model terms: weights and devices, the engine, segment-everything rules, video trackers, caches."""
