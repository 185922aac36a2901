import os

os.environ["LC_ALL"] = "C.UTF-8"
os.environ["LANGUAGE"] = "en"
