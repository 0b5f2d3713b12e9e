"""Audio becomes text: recordings, recognisers, transcription jobs."""
