"""What the skills call on: the book service, the joke collection, the admin's rules file. Free of web.py."""
