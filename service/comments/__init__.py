"""Comments: intake, normalisation, storage and the frontend's read API."""
