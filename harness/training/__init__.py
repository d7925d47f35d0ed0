"""The training loop and what it needs: batching, the run record, the experiment runner."""
