"""Cloud posture scans: collection → evaluation → stored scan; diffs between stored scans."""
