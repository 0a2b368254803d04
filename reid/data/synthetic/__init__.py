"""Procedural rendering of the synthetic VI-ReID people, scenes and cameras."""
