"""What the product does, called by views and jobs alike. Knows the database, not HTTP."""
