"""End-to-end behaviour of distributed runs, compared with pytest-xdist 3.8."""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap

import pytest

from xdist_c.worker.session import NO_SUMMARY_KEEPS_PLUGINS

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _write_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_a="""
        import pytest

        def test_ok(): pass

        def test_fail(): assert 0, "boom"

        @pytest.mark.skip(reason="nope")
        def test_skip(): pass

        @pytest.mark.parametrize("i", range(5))
        def test_param(i): pass
        """
    )


class TestBasics:
    def test_n2_summary_and_status_lines(self, pytester: pytest.Pytester) -> None:
        _write_suite(pytester)
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(
            [
                "created: 2/2 workers",
                "2 workers [8 items]",
                "*[[]*%[]]*",
                "[[]gw?[]] linux -- Python*" if sys.platform.startswith("linux") else "*[[]gw?[]]*",
                "*1 failed, 6 passed, 1 skipped*",
            ]
        )
        assert "collected" not in result.stdout.str()
        assert result.ret == 1

    def test_verbose_lines_name_the_worker(self, pytester: pytest.Pytester) -> None:
        _write_suite(pytester)
        result = pytester.runpytest_subprocess("-n", "2", "-v")
        result.stdout.fnmatch_lines_random(
            [
                "[[]gw?[]] [[]*%[]] PASSED test_a.py::test_ok*",
                "[[]gw?[]] [[]*%[]] FAILED test_a.py::test_fail*",
                "[[]gw?[]] [[]*%[]] SKIPPED test_a.py::test_skip*",
                "scheduling tests via LoadScheduling",
            ]
        )

    def test_exit_code_all_pass(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["*2 passed*"])
        assert result.ret == 0

    def test_no_tests_collected_exit_5(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("x = 1")
        result = pytester.runpytest_subprocess("-n", "2")
        assert result.ret == 5

    def test_n0_runs_in_process(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import os\ndef test_a(): assert 'PYTEST_XDIST_WORKER' not in os.environ")
        result = pytester.runpytest_subprocess("-n", "0")
        result.stdout.fnmatch_lines(["collected 1 item", "*1 passed*"])
        assert "workers" not in result.stdout.str()

    def test_collect_only_runs_in_process(self, pytester: pytest.Pytester) -> None:
        _write_suite(pytester)
        result = pytester.runpytest_subprocess("-n", "2", "--collect-only")
        result.stdout.fnmatch_lines(["collected 8 items", "*test_ok*"])
        assert "created:" not in result.stdout.str()
        assert result.ret == 0

    def test_dist_each_runs_every_test_on_every_worker(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass")
        result = pytester.runpytest_subprocess("--dist", "each", "--tx", "2*popen", "-v")
        result.stdout.fnmatch_lines_random(
            ["[[]gw0[]]*PASSED test_*::test_a*", "[[]gw1[]]*PASSED test_*::test_a*", "*6 passed*"]
        )
        assert result.ret == 0

    def test_d_with_tx(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-d", "--tx", "2*popen")
        result.stdout.fnmatch_lines(["created: 2/2 workers", "*2 passed*"])

    def test_tx_without_dist_runs_in_process(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("--tx", "popen")
        result.stdout.fnmatch_lines(["collected 1 item", "*1 passed*"])

    def test_tx_env_and_chdir(self, pytester: pytest.Pytester) -> None:
        target = pytester.path / "elsewhere"
        target.mkdir()
        pytester.makepyfile(
            f"""
            import os
            def test_env():
                assert os.environ["XC_FOO"] == "bar"
                assert os.getcwd() == {str(target)!r}
            """
        )
        result = pytester.runpytest_subprocess(
            "-d", "--tx", f"popen//env:XC_FOO=bar//chdir={target}", str(pytester.path)
        )
        result.stdout.fnmatch_lines(["*1 passed*"])

    def test_tx_python(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(f"import sys\ndef test_py(): assert sys.executable == {sys.executable!r}")
        result = pytester.runpytest_subprocess("-d", "--tx", f"popen//python={sys.executable}")
        result.stdout.fnmatch_lines(["*1 passed*"])


class TestOptions:
    def test_n_auto_uses_env(self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "auto")
        result.stdout.fnmatch_lines(["created: 3/3 workers", "3 workers [1 item]"])

    def test_n_logical_and_auto_hook(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            "def pytest_xdist_auto_num_workers(config):\n"
            "    return 1 if config.option.numprocesses == 'logical' else 2\n"
        )
        pytester.makepyfile("def test_a(): pass")
        pytester.runpytest_subprocess("-n", "auto").stdout.fnmatch_lines(["created: 2/2 workers"])
        pytester.runpytest_subprocess("-n", "logical").stdout.fnmatch_lines(["created: 1/1 worker"])

    def test_bad_env_count_warns_and_falls_back(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "many")
        monkeypatch.setenv("PYTHON_CPU_COUNT", "2")
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "auto", "-W", "default")
        result.stdout.fnmatch_lines(["created: 2/2 workers"])
        result.stderr.fnmatch_lines(["*PYTEST_XDIST_AUTO_NUM_WORKERS is not a number*"])

    def test_maxprocesses_caps_any_n(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "3", "--maxprocesses", "2")
        result.stdout.fnmatch_lines(["created: 2/2 workers"])

    def test_bad_n_value(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest_subprocess("-n", "foo")
        result.stderr.fnmatch_lines(["*argument -n/--numprocesses: invalid parse_numprocesses value: 'foo'*"])
        assert result.ret == 4

    def test_bad_dist_value(self, pytester: pytest.Pytester) -> None:
        result = pytester.runpytest_subprocess("--dist", "nope")
        result.stderr.fnmatch_lines(["*argument --dist: invalid choice: 'nope'*"])

    @pytest.mark.parametrize("mode", ["loadscope", "loadfile", "loadgroup", "worksteal"])
    def test_every_mode_is_available(self, pytester: pytest.Pytester, mode: str) -> None:
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "--dist", mode)
        result.stdout.fnmatch_lines(["*2 passed*"])
        assert result.ret == 0

    def test_pdb_with_distribution_is_usage_error(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "--pdb")
        result.stderr.fnmatch_lines(["ERROR: --pdb is incompatible with distributing tests; try using -n0 or -nauto."])
        assert result.ret == 4

    def test_pdb_with_auto_disables_distribution(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "auto", "--pdb")
        result.stdout.fnmatch_lines(["collected 1 item", "*1 passed*"])

    @pytest.mark.parametrize(
        "args, ini, expected",
        [
            (["-f"], "", "*does not support --looponfail*pytest-watcher*"),
            (["--rsyncdir", "."], "", "*does not support --rsyncdir*https://xdist-c.readthedocs.io/*/remote.html*"),
            ([], "rsyncdirs = .", "*does not support --rsyncdir*"),
            ([], "looponfailroots = .", "*does not support --looponfail*"),
        ],
    )
    def test_removed_features_rejected(
        self, pytester: pytest.Pytester, args: list[str], ini: str, expected: str
    ) -> None:
        if ini:
            pytester.makeini(f"[pytest]\n{ini}\n")
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess(*args)
        result.stderr.fnmatch_lines([f"ERROR: {expected}"])
        assert result.ret == 4

    def test_px_needs_id(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-d", "--px", "popen", "--tx", "popen")
        result.stderr.fnmatch_lines(["*Proxy gateway popen must include an id*"])

    def test_px_proxy_with_via(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess(
            "-d", "--px", "id=proxy//popen//execmodel=thread", "--tx", "2*popen//via=proxy"
        )
        result.stdout.fnmatch_lines(["*2 passed*"])

    def test_testrunuid_option_and_fixture(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import os
            def test_uid(testrun_uid):
                assert testrun_uid == "myrun"
                assert os.environ["PYTEST_XDIST_TESTRUNUID"] == "myrun"
            """
        )
        result = pytester.runpytest_subprocess("-n", "2", "--testrunuid", "myrun")
        result.stdout.fnmatch_lines(["*1 passed*"])

    def test_maxschedchunk_accepted(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(20))\ndef test_a(i): pass")
        result = pytester.runpytest_subprocess("-n", "2", "--maxschedchunk", "1")
        result.stdout.fnmatch_lines(["*20 passed*"])

    def test_loadscope_reorder_flags_parse(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            "def pytest_configure(config):\n    print('reorder=%s' % config.option.loadscopereorder)\n"
        )
        pytester.makepyfile("def test_a(): pass")
        pytester.runpytest_subprocess("-s").stdout.fnmatch_lines(["reorder=True"])
        pytester.runpytest_subprocess("-s", "--no-loadscope-reorder").stdout.fnmatch_lines(["reorder=False"])

    def test_plugin_name_is_xdist(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            "def pytest_configure(config):\n    print('has-xdist=%s' % config.pluginmanager.hasplugin('xdist'))\n"
        )
        pytester.makepyfile("def test_a(): pass")
        pytester.runpytest_subprocess("-s").stdout.fnmatch_lines(["has-xdist=True"])
        result = pytester.runpytest_subprocess("-p", "no:xdist", "-n", "2")
        result.stderr.fnmatch_lines(["*unrecognized arguments: -n*"])
        pytester.runpytest_subprocess("-s", "-p", "no:xdist").stdout.fnmatch_lines(["has-xdist=False"])

    def test_dist_via_addopts_ini(self, pytester: pytest.Pytester) -> None:
        pytester.makeini("[pytest]\naddopts = -n 2\n")
        pytester.makepyfile("def test_a(): pass")
        pytester.runpytest_subprocess().stdout.fnmatch_lines(["created: 2/2 workers", "*1 passed*"])


class TestConflict:
    def _fake_pytest_xdist(self, pytester: pytest.Pytester, with_plugin: bool) -> dict[str, str]:
        site = pytester.path / "fake_site"
        info = site / "pytest_xdist-3.8.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pytest-xdist\nVersion: 3.8.0\n")
        if with_plugin:
            (info / "entry_points.txt").write_text("[pytest11]\nxdist = fake_xdist_plugin\n")
            (site / "fake_xdist_plugin.py").write_text(
                "def pytest_addoption(parser):\n    parser.getgroup('xdist')._addoption('-n', '--numprocesses')\n"
            )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
        return env

    @pytest.mark.parametrize("with_plugin", [False, True])
    def test_both_installed_one_clear_line(
        self, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, with_plugin: bool
    ) -> None:
        env = self._fake_pytest_xdist(pytester, with_plugin)
        monkeypatch.setenv("PYTHONPATH", env["PYTHONPATH"])
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "2")
        result.stderr.fnmatch_lines(["ERROR: xdist-c and pytest-xdist 3.8.0 are both installed*uninstall one of them*"])
        assert "Traceback" not in result.stderr.str()
        assert "conflicting option" not in result.stderr.str()
        assert result.ret == 4


class TestHooksAndApi:
    def test_hooks_called_with_expected_arguments(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            import os
            LOG = os.path.join(os.path.dirname(__file__), "hooks.log")

            def log(*parts):
                with open(LOG, "a") as f:
                    f.write(" ".join(str(p) for p in parts) + "\\n")

            def pytest_xdist_setupnodes(config, specs):
                log("setupnodes", len(specs), hasattr(config, "workerinput"))

            def pytest_xdist_newgateway(gateway):
                log("newgateway", gateway.id, gateway.spec.popen)

            def pytest_configure_node(node):
                node.workerinput["extra"] = "from-controller"
                log("configure_node", node.gateway.id)

            def pytest_testnodeready(node):
                log("nodeready", node.gateway.id, node.workerinfo["id"], "executable" in node.workerinfo)

            def pytest_xdist_node_collection_finished(node, ids):
                log("collection_finished", node.gateway.id, len(ids))

            def pytest_testnodedown(node, error):
                log("nodedown", node.gateway.id, error, node.workeroutput.get("from_worker"))

            def pytest_sessionfinish(session):
                if hasattr(session.config, "workeroutput"):
                    session.config.workeroutput["from_worker"] = session.config.workerinput["extra"]

            def pytest_xdist_make_scheduler(config, log):
                globals()["LOGGED"] = log
                return None

            def pytest_runtest_logreport(report):
                if report.when == "call" and "PYTEST_XDIST_WORKER" not in os.environ:
                    log("logreport", report.node.gateway.id == report.worker_id)
            """
        )
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass")
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["*3 passed*"])
        lines = (pytester.path / "hooks.log").read_text().splitlines()
        assert lines[0] == "setupnodes 2 False"
        assert sorted(line for line in lines if line.startswith("newgateway")) == [
            "newgateway gw0 True",
            "newgateway gw1 True",
        ]
        assert sorted(line for line in lines if line.startswith("configure_node")) == [
            "configure_node gw0",
            "configure_node gw1",
        ]
        assert "nodeready gw0 gw0 True" in lines and "nodeready gw1 gw1 True" in lines
        assert "collection_finished gw0 3" in lines and "collection_finished gw1 3" in lines
        assert "nodedown gw0 None from-controller" in lines
        assert "nodedown gw1 None from-controller" in lines
        assert lines.count("logreport True") == 3

    def test_workerinfo_describes_the_worker(self, pytester: pytest.Pytester) -> None:
        """``node.workerinfo`` holds what the worker's interpreter says."""
        pytester.makeconftest(
            """
            import json, os

            def pytest_testnodeready(node):
                path = os.path.join(os.path.dirname(__file__), node.gateway.id + ".json")
                with open(path, "w") as f:
                    json.dump(node.workerinfo, f, default=str)
            """
        )
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "2")
        result.assert_outcomes(passed=1)
        probe = pytester.run(
            sys.executable,
            "-c",
            "import json, os, platform, sys; print(json.dumps([sys.version, list(sys.version_info), "
            "sys.platform, platform.platform(), sys.executable, os.getcwd()]))",
        )
        version, version_info, sysplatform, platform_name, executable, cwd = json.loads(probe.outlines[-1])
        for worker in range(2):
            info = json.loads((pytester.path / f"gw{worker}.json").read_text())
            assert info["id"] == f"gw{worker}"
            assert info["version"] == version and info["version_info"] == version_info
            assert info["sysplatform"] == sysplatform
            assert info["platform"] == platform_name
            assert info["executable"] == executable
            assert info["cwd"] == cwd

    def test_worker_skips_pytest_summary_sections_not_plugins(self, pytester: pytest.Pytester) -> None:
        """Workers run plugins' pytest_terminal_summary, but not pytest's own
        FAILURES/short-summary sections (nobody sees a worker's terminal);
        the controller shows them once."""
        pytester.makeconftest(
            """
            import os
            def pytest_terminal_summary(terminalreporter, config):
                worker = os.environ.get("PYTEST_XDIST_WORKER", "controller")
                with open(os.path.join(str(config.rootpath), "summary-" + worker), "w") as f:
                    f.write(str(config.option.no_summary))
            """
        )
        pytester.makepyfile("def test_a(): assert 0, 'boom-a'\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "-rA")
        assert result.ret == 1
        done = {p.name: p.read_text() for p in pytester.path.glob("summary-*")}
        # before pytest 9.2, --no-summary also skipped the plugins' summaries
        skipped = str(NO_SUMMARY_KEEPS_PLUGINS)
        assert done == {"summary-gw0": skipped, "summary-gw1": skipped, "summary-controller": "False"}
        # One FAILURES section and one short summary, both from the controller.
        # (Count whole lines: whether the summary line shows the message
        # depends on the terminal width and on $CI.)
        lines = result.stdout.lines
        assert lines.count("E   AssertionError: boom-a") == 1
        assert sum(line.startswith("FAILED ") for line in lines) == 1
        assert sum("= FAILURES =" in line for line in lines) == 1
        result.stdout.fnmatch_lines(["*= FAILURES =*", "*short test summary info*", "FAILED test_*::test_a*"])

    def test_custom_scheduler_hook_is_used(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            from xdist_c.controller.scheduler import EachScheduling

            def pytest_xdist_make_scheduler(config, log):
                return EachScheduling(config, log)
            """
        )
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "-v")
        result.stdout.fnmatch_lines(["scheduling tests via EachScheduling", "*2 passed*"])

    def test_fixtures_env_and_api(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import os, sys
            import xdist_c

            def test_worker(request, worker_id, testrun_uid):
                assert worker_id in ("gw0", "gw1")
                assert os.environ["PYTEST_XDIST_WORKER"] == worker_id
                assert os.environ["PYTEST_XDIST_WORKER_COUNT"] == "2"
                assert os.environ["PYTEST_XDIST_TESTRUNUID"] == testrun_uid
                assert len(testrun_uid) == 32
                cfg = request.config
                assert cfg.workerinput["workerid"] == worker_id
                assert cfg.workerinput["workercount"] == 2
                assert isinstance(cfg.workerinput["mainargv"], list)
                assert cfg.workeroutput == {}
                assert xdist_c.is_xdist_worker(request)
                assert not xdist_c.is_xdist_controller(request)
                assert not xdist_c.is_xdist_master(request)
                assert xdist_c.get_xdist_worker_id(request) == worker_id
                assert sys.argv == ["-c"]
                assert "" not in sys.path
            """
        )
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["*1 passed*"])

    def test_controller_side_api(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            import xdist_c
            def pytest_sessionstart(session):
                if not hasattr(session.config, "workerinput"):
                    print("controller=%s worker=%s id=%s" % (
                        xdist_c.is_xdist_controller(session),
                        xdist_c.is_xdist_worker(session),
                        xdist_c.get_xdist_worker_id(session)))
            """
        )
        pytester.makepyfile("def test_a(worker_id): assert worker_id == 'master'")
        pytester.runpytest_subprocess("-s", "-n", "2").stdout.fnmatch_lines(["controller=True worker=False id=master"])
        result = pytester.runpytest_subprocess("-s")
        result.stdout.fnmatch_lines(["controller=False worker=False id=master", "*1 passed*"])

    def test_xdist_group_marker_registered(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import pytest\n@pytest.mark.xdist_group(name='g')\ndef test_a(): pass")
        result = pytester.runpytest_subprocess("--strict-markers", "-n", "2")
        result.stdout.fnmatch_lines(["*1 passed*"])
        pytester.runpytest_subprocess("--markers").stdout.fnmatch_lines(["@pytest.mark.xdist_group*"])

    def test_junitxml_pairs_reports(self, pytester: pytest.Pytester) -> None:
        _write_suite(pytester)
        pytester.runpytest_subprocess("-n", "2", "--junitxml=out.xml")
        xml = (pytester.path / "out.xml").read_text()
        assert xml.count("<testcase ") == 8
        assert 'tests="8"' in xml and 'failures="1"' in xml and 'skipped="1"' in xml

    def test_reports_carry_worker_fields(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            def pytest_runtest_logreport(report):
                if report.when == "call" and hasattr(report, "node"):  # controller
                    print("REP", report.nodeid, report.worker_id, report.item_index,
                          len(report.testrun_uid), report.node.gateway.id == report.worker_id)
            """
        )
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "-s")
        out = result.stdout.str()
        assert re.search(r"REP test_\w+.py::test_a gw\d 0 32 True", out)
        assert re.search(r"REP test_\w+.py::test_b gw\d 1 32 True", out)


class TestBehaviour:
    @pytest.mark.parametrize("split", ["auto", "off"])
    def test_different_collections_reported(self, pytester: pytest.Pytester, split: str) -> None:
        # Split (one file: gw1 collects it, gw0 collects it again when sent
        # a test of it and finds other ids) or not (the controller compares
        # the whole collections): the same report. (Split, the test gw1 was
        # sent first has run by then: "1 passed, 1 error".)
        pytester.makepyfile(
            """
            import os, pytest
            W = os.environ.get("PYTEST_XDIST_WORKER", "")
            @pytest.mark.parametrize("i", [W + "x", "same"])
            def test_p(i): pass
            """
        )
        result = pytester.runpytest_subprocess("-n", "2", f"--split-collection={split}")
        result.stdout.fnmatch_lines(
            [
                "*ERROR collecting gw?*",
                "Different tests were collected between gw? and gw?. The difference is:",
                "--- gw?",
                "",
                "+++ gw?",
                "",
                "@@ -1,2 +1,2 @@",
                "",
                "-test_*gw?x*",
                "+test_*gw?x*",
                " test_*[[]same[]]",
                "To see why this happens see 'Known limitations' in documentation for pytest-xdist",
                "*1 error*",
            ]
        )
        assert result.ret == 1
        assert "INTERNALERROR" not in result.stdout.str()

    def test_exitfirst(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import pytest
            @pytest.mark.parametrize("i", range(30))
            def test_x(i): assert i != 3
            """
        )
        result = pytester.runpytest_subprocess("-n", "2", "-x")
        result.stdout.fnmatch_lines(
            ["*stopping after 1 failures*", "*! xdist.dsession.Interrupted: stopping after 1 failures !*"]
        )
        assert result.ret == 2
        assert int(re.search(r"(\d+) passed", result.stdout.str()).group(1)) < 29

    def test_maxfail(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import pytest\n@pytest.mark.parametrize('i', range(40))\ndef test_x(i): assert i % 5")
        result = pytester.runpytest_subprocess("-n", "2", "--maxfail", "2")
        result.stdout.fnmatch_lines(["*stopping after 2 failures*"])
        assert result.ret == 2

    def test_worker_warnings_in_summary(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(
            """
            import warnings
            class MyWarning(UserWarning):
                pass
            def test_w():
                warnings.warn(UserWarning("from the worker"))
            def test_custom():
                warnings.warn(MyWarning("custom class"))
            """
        )
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["*warnings summary*"])
        result.stdout.fnmatch_lines_random(
            ["*UserWarning: from the worker*", "*MyWarning: custom class*", "*2 passed, 2 warnings*"]
        )

    def test_collection_error_does_not_abort(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile(test_bad="import nosuchmodule_xyz", test_good="def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "2")
        result.stdout.fnmatch_lines(["*ERROR collecting test_bad.py*", "*1 passed, 1 error*"])
        assert result.stdout.str().count("ERROR collecting test_bad.py") == 1
        assert result.ret == 1

    def test_internal_error_in_worker(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            def pytest_collection_modifyitems():
                raise RuntimeError("Some runtime error")
            """
        )
        pytester.makepyfile("def test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "1")
        result.stdout.fnmatch_lines(["*RuntimeError: Some runtime error*"])
        # pytest-xdist 3.8 exits 0 here; xdist-c reports the internal error.
        assert result.ret == pytest.ExitCode.INTERNAL_ERROR

    def test_keyboard_interrupt_in_worker(self, pytester: pytest.Pytester) -> None:
        pytester.makeconftest(
            """
            def pytest_sessionfinish(session):
                if hasattr(session.config, 'workeroutput'):
                    session.config.workeroutput['s2'] = 42
            def pytest_testnodedown(node, error):
                assert node.workeroutput['s2'] == 42
                print("s2call-finished")
            """
        )
        pytester.makepyfile("def test_hello(): raise KeyboardInterrupt()")
        result = pytester.runpytest_subprocess("-n", "1")
        assert result.ret == 2
        assert "s2call-finished" in result.stdout.str()
        assert "Interrupted" in result.stdout.str()


CRASH_SUITE = """
    import os, pytest

    @pytest.fixture
    def fix():
        {setup}
        yield
        {teardown}

    def test_crash(fix):
        {call}

    def test_ok():
        pass
"""


class TestCrashes:
    @pytest.mark.parametrize("when", ["setup", "call", "teardown"])
    def test_crashing_item_reported_and_replaced(self, pytester: pytest.Pytester, when: str) -> None:
        code = {"setup": "pass", "call": "pass", "teardown": "pass"}
        code[when] = "os._exit(1)"
        pytester.makepyfile(textwrap.dedent(CRASH_SUITE).format(**code))
        result = pytester.runpytest_subprocess("-n", "2")
        # A test whose worker dies is reported once, as the crash: unlike
        # pytest-xdist, a teardown crash does not also count its call phase
        # as passed.
        passes = 1
        result.stdout.fnmatch_lines(
            [
                "*node down: Not properly terminated*",
                "*replacing crashed worker gw*",
                "*worker 'gw*' crashed while running 'test_*::test_crash'*",
                f"*1 failed, {passes} passed*",
            ]
        )
        assert result.ret == 1

    def test_max_worker_restart_zero(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import os\ndef test_a(): os._exit(1)\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "1", "--max-worker-restart", "0")
        result.stdout.fnmatch_lines(
            [
                "*worker gw0 crashed and worker restarting disabled*",
                "*= xdist: worker gw0 crashed and worker restarting disabled =*",
            ]
        )
        assert result.ret != 0

    def test_max_worker_restart_reached(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import os, pytest\n@pytest.mark.parametrize('i', range(4))\ndef test_a(i): os._exit(1)")
        result = pytester.runpytest_subprocess("-n", "1", "--max-worker-restart", "1")
        result.stdout.fnmatch_lines(
            ["*maximum crashed workers reached: 1*", "*= xdist: maximum crashed workers reached: 1 =*"]
        )
        assert result.ret == 1

    def test_crash_at_import_ends_without_hang(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import os\nos._exit(1)\ndef test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "1", "--max-worker-restart", "0", timeout=60)
        result.stdout.fnmatch_lines(["*worker gw0 crashed and worker restarting disabled*"])

    def test_default_restart_cap_for_collection_crash(self, pytester: pytest.Pytester) -> None:
        pytester.makepyfile("import os\nos._exit(1)\ndef test_a(): pass")
        result = pytester.runpytest_subprocess("-n", "1", timeout=120)
        result.stdout.fnmatch_lines(["*maximum crashed workers reached: 4*"])


class TestInterrupt:
    def test_sigint_stops_run_and_leaves_no_workers(self, pytester: pytest.Pytester) -> None:
        import signal
        import subprocess
        import time

        pytester.makepyfile(
            """
            import os, time
            def test_hang(worker_id):
                with open("pid-" + worker_id, "w") as f:
                    f.write(str(os.getpid()))
                time.sleep(60)
            def test_hang2(worker_id):
                test_hang(worker_id)
            """
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider"],
            cwd=pytester.path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 30
        while len(list(pytester.path.glob("pid-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = [int(p.read_text()) for p in pytester.path.glob("pid-*")]
        assert len(pids) == 2
        start = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert time.monotonic() - start < 15
        assert proc.returncode == 2
        assert "KeyboardInterrupt" in out
        for pid in pids:
            assert not _process_alive(pid, wait=5.0), f"worker {pid} left behind"


def _process_alive(pid: int, wait: float) -> bool:
    """Whether ``pid`` still runs (zombies count as gone) after ``wait`` s."""
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/status") as f:
                state = next(line for line in f if line.startswith("State:"))
        except (FileNotFoundError, ProcessLookupError):
            return False
        if "Z" in state.split()[1]:
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.1)


class TestReportSerializationHooks:
    def test_plugin_serialization_hooks_still_called(self, pytester: pytest.Pytester) -> None:
        """xdist-c skips pytest's own report (de)serialization hooks only
        while no plugin implements them."""
        pytester.makeconftest(
            """
            import os
            def pytest_report_to_serializable(config, report):
                if hasattr(config, "workerinput") and report.when == "call":
                    data = report._to_json()
                    data["$report_type"] = "TestReport"
                    data["added_on_worker"] = config.workerinput["workerid"]
                    return data

            def pytest_report_from_serializable(config, data):
                if "added_on_worker" in data:
                    print("FROM", data["nodeid"], data["added_on_worker"])
            """
        )
        pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
        result = pytester.runpytest_subprocess("-n", "2", "-s")
        result.stdout.fnmatch_lines_random(["*FROM *::test_a gw?", "*FROM *::test_b gw?"])
        result.stdout.fnmatch_lines(["*2 passed*"])


def test_command_to_a_dead_worker_does_not_crash_the_controller() -> None:
    """Sending to a worker whose channel already closed is not an error:
    its death is handled when the channel-closed event arrives."""
    from xdist_c.controller.workermanage import WorkerController

    class ClosedChannel:
        def send(self, data: bytes) -> None:
            raise OSError("cannot send (already closed?)")

    node = WorkerController.__new__(WorkerController)
    node.channel = ClosedChannel()
    node._down = False
    node._shutdown_sent = False
    node.log = lambda *args: None  # type: ignore[method-assign]
    node.send_runtest_some([1, 2])  # no exception
    node.send_runtest_all()
    node.shutdown()
    assert node.shutting_down
