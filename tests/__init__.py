"""The test suite: a regular package, so a top-level ``tests`` package that an installed
distribution ships by mistake (sleap-io, an eks dependency, does) cannot shadow it."""
