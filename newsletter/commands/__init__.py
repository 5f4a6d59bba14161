"""One plain function per verb: what each command does, without the command line."""
