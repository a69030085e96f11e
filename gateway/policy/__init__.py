"""Policy: agreements loaded from files, the decision engine, and minimisation."""
