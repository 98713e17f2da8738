"""web.py classes (the WeChat endpoint, the pages) and the skills that answer followers."""
