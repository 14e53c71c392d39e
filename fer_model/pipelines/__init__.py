"""Image in, predictions out: the recognizer, batch prediction over files and videos, and the same on Ray."""
