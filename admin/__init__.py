"""The admin's tools behind manage.py: vhost rendering and checks, the log export, WeChat's side played for tests."""
