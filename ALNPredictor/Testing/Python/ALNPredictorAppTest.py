"""In-app test entry point: runs ALNPredictorTest (the module's ScriptedLoadableModuleTest)."""

import unittest

from ALNPredictor import ALNPredictorTest


class ALNPredictorAppTest(unittest.TestCase):
    def test_module_scenario(self):
        ALNPredictorTest().runTest()


if __name__ == "__main__":
    unittest.main()
