"""What is done to each message: decoding and validation, points for the time series."""
