import os

os.environ["TZ"] = "Asia/Tokyo"
