"""FER-2013 and the FER+ votes as arrays, and the label sets."""
