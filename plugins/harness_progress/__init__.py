"""A progress bar during training, shown only when stderr is a terminal."""
