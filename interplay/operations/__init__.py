"""What an operator reads and repairs: dead letters, where a flow stands, and its hops."""
