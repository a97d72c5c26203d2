"""A local emulator of the Microsoft identity platform, Microsoft Graph and Partner Center,
for the tests and the demo of partnercenter.national_cloud. Run `python -m tests.emulator`.
"""
