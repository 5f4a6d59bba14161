"""The live-reload preview server: a builder callback, a file watcher, pages that long-poll."""
