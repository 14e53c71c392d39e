"""Finding faces (YuNet, boxes), following them across frames, and drawing the results."""
