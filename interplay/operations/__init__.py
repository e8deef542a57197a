"""What an operator reads and repairs: dead letters, and the hops of one flow."""
