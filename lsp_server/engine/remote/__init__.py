"""Remote engines: the same Engine interface, the model on another machine."""
