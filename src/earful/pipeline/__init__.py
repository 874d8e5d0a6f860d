"""The pipeline: normalize → match → classify → thread → route, pure stages over batches."""
