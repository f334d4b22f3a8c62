"""Health checks that say, in words, what is wrong with an installation."""
