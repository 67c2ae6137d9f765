"""Segments: a JSON rule language compiled to SQL, previews, stored membership kept up to date."""
