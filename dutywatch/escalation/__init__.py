"""Who is paged when, and what happens when nobody acknowledges."""
