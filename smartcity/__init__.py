"""The composition root and the CLI, at the top of the tree: nothing in the installation imports them."""
