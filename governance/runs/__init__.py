"""Background run records (``TaskRun``) and run locks that keep scheduled work from overlapping."""
