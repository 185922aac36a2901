import os

FROM_CONFTEST = os.environ.get("FROM_CONFTEST")
CWD = os.getcwd()
SET_ONCE_IS_MINE = os.environ.get("SET_ONCE") == str(os.getpid())


def test_env(request):
    os.makedirs("out", exist_ok=True)
    with open(os.path.join("out", "env.txt"), "w") as f:
        f.write(f"from_conftest={FROM_CONFTEST}\n")
        f.write(f"cwd_is_rootdir={CWD == str(request.config.rootpath)}\n")
        f.write(f"set_once_is_mine={SET_ONCE_IS_MINE}\n")
