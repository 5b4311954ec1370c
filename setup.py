from setuptools import find_packages, setup

setup(
    name="mtlstudy",
    version="0.1.0",
    description="Hyperparameter studies of a multi-task recommender: ranking (MRR) vs rating (MSE)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    classifiers=["License :: OSI Approved :: MIT License"],
    python_requires=">=3.10",
    packages=find_packages(include=["mtlstudy", "mtlstudy.*"]),
    package_data={"mtlstudy": ["published_results.json"]},
    install_requires=[
        # Tested minor versions; README says how to move to newer ones.
        "torch>=2.13,<2.14",
        "ray[tune]>=2.60,<2.61",
        "optuna>=5.0,<5.1",
        "sqlalchemy>=2.0,<2.2",
        # Study folders, local or in S3 (--dir s3://...), are read through pyarrow.fs, as Ray writes them.
        "pyarrow>=26,<27",
        "pandas>=2.0",
        "numpy>=1.24",
        "scipy>=1.10",
        "scikit-learn>=1.9,<1.10",
        "tensorboardX>=2.6",
        "click>=8.1",
        "matplotlib>=3.7",
        "pyyaml>=6.0",
        "tqdm>=4.60",
    ],
    extras_require={
        "test": [
            "pytest>=7",
            "plotly>=5",
            "tensorboard>=2.21,<2.22",
            "optuna-dashboard>=0.21,<0.22",
            "psycopg[binary]>=3.2,<3.4",
            # A local S3 server (moto's server mode) for the --dir s3://... tests, and a client to inspect it.
            "moto[server]>=5.2,<5.3",
            "boto3>=1.34,<2",
        ],
        "interactive": ["plotly>=5"],
        # Tested minor versions, as for the install requirements.
        "dashboard": ["tensorboard>=2.21,<2.22", "optuna-dashboard>=0.21,<0.22"],
        # TensorBoard (the dashboard) reads a study in S3 through boto3; mtlstudy itself needs no more than pyarrow.
        "s3": ["boto3>=1.34,<2"],
        # SQLAlchemy 2.1 reads postgresql:// URLs with psycopg (version 3).
        "postgres": ["psycopg[binary]>=3.2,<3.4"],
    },
    entry_points={"console_scripts": ["mtlstudy = mtlstudy.cli:main"]},
)
