"""Label Studio's ML backend protocol over the segmentation service: labeling configs, task images, prompts, results."""
