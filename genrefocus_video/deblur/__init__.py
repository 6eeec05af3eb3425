"""All-in-focus recovery: classical pre-deblur (CPU fallback) and the DeblurNet wrapper."""
