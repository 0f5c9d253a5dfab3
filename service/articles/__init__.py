"""Articles: the site's pages that comments hang under, and their moderation policy."""
