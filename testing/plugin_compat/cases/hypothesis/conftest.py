from hypothesis import settings

settings.register_profile("compat", derandomize=True, max_examples=30, database=None, deadline=None, print_blob=False)
