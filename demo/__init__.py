"""The demo estate: invented people in an offline AD and an SQLite MIM metaverse, for
`python -m demo`, the tests and the benchmarks. Not part of the product."""
