"""Steps of the fine-tuning pipeline: plain functions plus thin Prefect task wrappers."""
