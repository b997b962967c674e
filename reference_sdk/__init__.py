"""reference_sdk"""
