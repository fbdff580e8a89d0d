// Worker tests follow.
